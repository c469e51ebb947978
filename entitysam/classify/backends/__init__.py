"""Classification backends: an OpenAI-compatible chat model, or a local CLIP model.

=========  =====================================================  ==================
name       what                                                   module
=========  =====================================================  ==================
openai     chat completions with image input (hosted API, vLLM,   :mod:`.openai`
           Ollama, llama.cpp server, ...) through the openai SDK
           (optional extra ``[openai]``), cached on disk
clip       a local open_clip model (optional extra ``[clip]``)    :mod:`.clip`
=========  =====================================================  ==================
"""

from entitysam.classify.backends.base import Backend, Label

__all__ = ["Backend", "Label"]
