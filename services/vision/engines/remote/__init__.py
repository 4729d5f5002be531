"""Remote providers, used when configured: the Hugging Face Inference API (OVA's
HF_MODELO_IMG / HF_MODELO_SIGN, and captions), an OpenAI-compatible vision chat model and
Anthropic's Messages API (captions). Every call goes through a `Guard`."""
