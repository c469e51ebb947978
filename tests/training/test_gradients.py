"""Issue 16 §1: one training step gives every trainable parameter a gradient.

For the official trainable set and for ``--train-all``, after one stage-2 step (3-frame clips:
frame 0 uses the point sampler, later frames the memory path and the offset branch) every
parameter with ``requires_grad`` has a non-zero gradient, except the ones listed below with the
reason they cannot have one. Before the fix, ``--train-all`` left the memory path (memory
attention, memory encoder, ``no_mem_embed``, ``maskmem_tpos_enc``) and the stride-16 half of
the image encoder without gradient.
"""

import pytest

from tests.training.test_trainer import FAST, _args

from entitysam._cli.train import build_trainer

# parameters no forward pass reads (or whose output is discarded): reason
UNUSED = {
    "sam_mask_decoder.cls_prediction_head.": "computed and discarded officially (entity logits come from offset_cls)",
    "sam_mask_decoder.iou_token": "legacy SAM token, not in the EntityDecoder's token sequence",
    "sam_mask_decoder.mask_tokens": "legacy SAM tokens, not in the EntityDecoder's token sequence",
    "sam_mask_decoder.output_hypernetworks_mlps.1.": "only hypernetwork MLP 0 is used (quirk 5)",
    "sam_mask_decoder.output_hypernetworks_mlps.2.": "only hypernetwork MLP 0 is used (quirk 5)",
    "sam_mask_decoder.output_hypernetworks_mlps.3.": "only hypernetwork MLP 0 is used (quirk 5)",
    "no_mem_pos_enc": "unused at training and inference (first position adds no_mem_embed only)",
    "no_obj_embed_spatial": "always multiplied by 0 (object score is fixed)",
    "obj_ptr_tpos_proj.": "object pointers are off",
    "sam_prompt_encoder.point_embeddings.0.": "label 0 (negative point) never used: all prompts are positive",
    "sam_prompt_encoder.point_embeddings.2.": "box corner embedding: no box prompts",
    "sam_prompt_encoder.point_embeddings.3.": "box corner embedding: no box prompts",
    "sam_prompt_encoder.mask_downscaling.": "no mask prompts",
    "dinov2_feature_extractor.mask_token": "masked-token pre-training only",
}


def _without_gradient(trainer) -> list[str]:
    return [n for n, p in trainer.model.named_parameters()
            if p.requires_grad and (p.grad is None or not bool(p.grad.ne(0).any()))]


def _reason(name: str) -> str | None:
    return next((r for prefix, r in UNUSED.items() if name.startswith(prefix)), None)


@pytest.fixture(scope="module")
def stage1_ckpt(synth_root, tmp_path_factory):
    """A short stage-1 run: stage 2 starts from trained weights, as in the recipe."""
    out = tmp_path_factory.mktemp("s1")
    t = build_trainer(_args(["--data", str(synth_root), "--stage", "1", "-o", str(out), "--max-iter", "1",
                             "--checkpoint-period", "1", *FAST]), log=lambda s: None)
    return t.train()


@pytest.mark.parametrize("train_all", [False, True], ids=["official", "train-all"])
def test_every_trainable_parameter_gets_a_gradient(synth_root, tmp_path, stage1_ckpt, train_all):
    argv = ["--data", str(synth_root), "--stage", "2", "--frames", "3", "--init", str(stage1_ckpt), "-o",
            str(tmp_path), "--max-iter", "1", *FAST]
    if not train_all:
        argv.remove("--train-all")
    trainer = build_trainer(_args(argv), log=lambda s: None)
    trainable = [n for n, p in trainer.model.named_parameters() if p.requires_grad]
    if train_all:
        assert len(trainable) == len(list(trainer.model.parameters()))
    else:
        assert not any(n.startswith(("image_encoder", "memory_", "no_mem_embed", "dinov2_feature")) for n in trainable)
    trainer.train_step()
    missing = [n for n in _without_gradient(trainer) if _reason(n) is None]
    assert missing == []
    # the exemption list is not a blanket: everything it names that is trainable indeed has no gradient
    exempt = [n for n in trainable if _reason(n) is not None]
    assert set(exempt) <= set(_without_gradient(trainer))
    if train_all:  # the memory path and frame 0's features learn too
        grads = dict(trainer.model.named_parameters())
        for name in ("no_mem_embed", "maskmem_tpos_enc", "memory_attention.layers.0.self_attn.q_proj.weight",
                     "memory_encoder.fuser.layers.0.pwconv1.weight", "image_encoder.trunk.blocks.3.attn.qkv.weight",
                     "image_encoder.neck.convs.0.conv.weight"):
            assert grads[name].grad is not None and grads[name].grad.abs().sum() > 0, name


# research options (issue 16) under --train-all: what each leaves unused, and what it now uses
OPTION_CASES = {
    "no-memory": (["--no-memory"], ("memory_attention.", "memory_encoder.", "maskmem_tpos_enc", "offset_fc."), ()),
    "no-semantic": (["--no-semantic"], ("dinov2_feature_extractor.", "dinov2_projector."), ()),
    "shared-queries": (["--shared-queries"], ("sam_mask_decoder.iou_queries",), ()),
    "decoder-logits": (["--entity-logits-from", "decoder"], ("offset_cls.",),
                       ("sam_mask_decoder.cls_prediction_head.",)),
    "depth-3": (["--decoder-depth", "3", "--unmatched-iou-zero"], (), ()),
}


@pytest.mark.parametrize("case", OPTION_CASES)
def test_options_train_all_gradients(synth_root, tmp_path, case):
    flags, unused, now_used = OPTION_CASES[case]
    trainer = build_trainer(_args(["--data", str(synth_root), "--stage", "2", "--frames", "3", "-o", str(tmp_path),
                                   "--max-iter", "1", *FAST, *flags]), log=lambda s: None)
    cfg = trainer.model.cfg
    assert trainer.cfg.model_options == cfg.options | ({"decoder_depth": 3} if case == "depth-3" else {})
    if case == "depth-3":
        assert cfg.decoder_depth == 3 and len(trainer.model.sam_mask_decoder.transformer.layers) == 3
        assert trainer.criterion.unmatched_iou_zero
    trainer.train_step()
    missing = set(_without_gradient(trainer))
    names = [n for n, _ in trainer.model.named_parameters()]
    expected = {n for n in names if (_reason(n) is not None and not n.startswith(now_used)) or n.startswith(unused)}
    assert missing == expected


def test_training_levers_reach_the_trainer(synth_root, tmp_path):
    """Issue 16 levers: --lsj-scale sets the augmentation, --point-loss / --point-match the
    criterion; one step logs loss_point and the point sampler learns from it."""
    trainer = build_trainer(_args(["--data", str(synth_root), "--stage", "1", "-o", str(tmp_path), "--max-iter", "1",
                                   *FAST, "--lsj-scale", "1,1", "--point-loss", "2", "--point-match", "3"]),
                            log=lambda s: None)
    aug = trainer.clips.clips.aug
    assert (aug.min_scale, aug.max_scale) == (1.0, 1.0)
    crit = trainer.criterion
    assert crit.point_loss and crit.point_match == 3.0 and crit.weight_dict["loss_point"] == 2.0
    assert (trainer.cfg.point_loss, trainer.cfg.point_match) == (2.0, 3.0)
    logged = trainer.train_step()
    assert logged["loss_point"] > 0
    assert trainer.model.point_sampler_num.weight.grad.abs().sum() > 0
    official = build_trainer(_args(["--data", str(synth_root), "--stage", "1", "-o", str(tmp_path / "o"),
                                    "--max-iter", "1", *FAST]), log=lambda s: None)
    assert "loss_point" not in official.criterion.weight_dict and not official.criterion.point_loss
    assert (official.clips.clips.aug.min_scale, official.clips.clips.aug.max_scale) == (0.25, 4.0)
