# The MfM transformer + condition adapter (app/cli/parity_mfm.cpp): every mfm_dit_*.safetensors.
mf_add_parity_tests("mfm_dit_*.safetensors")
