"""EntitySAM model: dual encoder, prompt generator, entity decoder, SAM 2.1 memory."""

from entitysam.modeling.entitysam import EntitySAM, FrameFeatures, Memory, StepOutput, build_entitysam

__all__ = ["EntitySAM", "FrameFeatures", "Memory", "StepOutput", "build_entitysam"]
