"""``entitysam classify``: open-vocabulary labels for entity tracks, and task outputs from them."""

from __future__ import annotations

import argparse
import sys

from entitysam._cli.options import (
    device,
    fraction,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
)

help = "label entity tracks with category names (chat model or CLIP) -> panoptic/instance/semantic"

description = """\
Label every entity track of TRACKS (an `entitysam segment` output folder with pred.json or
rle.json) with one category of a vocabulary, and write a class-specific output to OUT:

  --task panoptic  VIPSeg layout: OUT/pan_pred/<video>/<stem>.png + OUT/pred.json
  --task instance  YouTube-VIS results: OUT/results.json (stuff classes left out)
  --task semantic  VSPW layout: OUT/<video>/<stem>.png class indices
and always OUT/labels.json (every track's label and the answer it came from).

Each track is cropped on its best frame (highest score, then largest area) from --frames
(the video file or frame folder that was segmented; a folder with one sub-folder per video
when TRACKS holds several videos).

Datasets: with --dataset vipseg|vspw|ytvis, TRACKS is a `segment ROOT --dataset ...` output
and --frames the dataset ROOT: frames are found through the dataset's layout, the task
defaults to the dataset's (vipseg panoptic, vspw semantic, ytvis instance) and YouTube-VIS
/ OVIS results use the instances JSON's video ids.

Backends:
  --backend openai  any OpenAI-compatible chat server with image input (OpenAI, vLLM, Ollama,
                    llama.cpp server, ...) through the openai SDK (pip install
                    'entitysam[openai]'): --base-url / $OPENAI_BASE_URL, --model,
                    $OPENAI_API_KEY. Answers are cached (--cache), so re-runs cost nothing.
  --backend clip    a local open_clip model (pip install 'entitysam[clip]'):
                    --clip-model ViT-B-32 --clip-pretrained laion2b_s34b_b79k
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("tracks", metavar="TRACKS", help="entitysam segment output (folder or pred.json/rle.json)")
    p.add_argument("--frames", required=True, metavar="SRC", help="video file or frame folder of TRACKS")
    p.add_argument("--vocab", required=True, metavar="NAME|FILE|LIST",
                   help="vipseg, vspw, ytvis2019, ytvis2021, ovis, coco_panoptic; a JSON with "
                        "\"categories\" (e.g. a dataset GT JSON); a text file, one name a line; or a,b,c")
    p.add_argument("--vocab-start", type=nonnegative_int, default=0, metavar="N",
                   help="first category id for plain name lists (default 0)")
    p.add_argument("--backend", required=True, choices=("openai", "clip"))
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder (must not exist or be empty)")
    p.add_argument("--task", default=None, choices=("panoptic", "instance", "semantic"),
                   help="default: panoptic (with --dataset: the dataset's task)")
    p.add_argument("--dataset", choices=("vipseg", "vspw", "ytvis"),
                   help="TRACKS is a `segment --dataset` output and --frames its dataset ROOT")
    p.add_argument("--split", help="--dataset: the split the run was made from (default: val; ytvis: valid)")
    p.add_argument("--annotations", metavar="JSON", help="--dataset ytvis: the instances JSON")

    g = p.add_argument_group("crop")
    g.add_argument("--margin", type=nonnegative_float, help="context around the mask box, fraction of its size "
                                                "(default: openai 0.15, clip 0.1)")
    g.add_argument("--mask-mode", choices=("none", "blur", "grey", "contour"),
                   help="background treatment (default blur)")
    g.add_argument("--crop-size", type=positive_int, help="longer crop side in pixels (default: openai 448, clip 224)")
    g.add_argument("--save-crops", action="store_true", help="also write OUT/crops/<video>/<track>.png")

    g = p.add_argument_group("openai backend")
    g.add_argument("--base-url", help="default $OPENAI_BASE_URL, else https://api.openai.com/v1")
    g.add_argument("--model", help="model name (default gpt-4o)")
    g.add_argument("--api-key", help="default $OPENAI_API_KEY (local servers usually need none)")
    g.add_argument("--concurrency", type=positive_int, default=4, help="requests in flight (default 4)")
    g.add_argument("--rpm", type=positive_float, help="at most this many requests per minute (default: no limit)")
    g.add_argument("--timeout", type=positive_float, default=60.0,
                   help="seconds per request attempt (the SDK's timeout; default 60)")
    g.add_argument("--retries", type=nonnegative_int, default=5,
                   help="retries on 408/409/429/5xx, timeouts, dropped connections, with the SDK's "
                        "backoff or the server's Retry-After (the SDK's max_retries; default 5)")
    g.add_argument("--max-tokens", type=positive_int, default=64, help="answer length limit (default 64)")
    g.add_argument("--cache", metavar="DIR", help="answer cache (default ~/.cache/entitysam/classify)")
    g.add_argument("--no-cache", action="store_true", help="do not read or write the answer cache")

    g = p.add_argument_group("clip backend")
    g.add_argument("--clip-model", default="ViT-B-32", help="open_clip architecture (default ViT-B-32)")
    g.add_argument("--clip-pretrained", help="open_clip weights tag or file (e.g. laion2b_s34b_b79k, openai)")
    g.add_argument("--device", default="cpu", type=device, help="cpu | cuda (default cpu)")
    g.add_argument("--min-confidence", type=fraction, help="below this probability a track gets none")

    g = p.add_argument_group("outputs")
    g.add_argument("--no-merge-stuff", action="store_true",
                   help="panoptic: keep several tracks of one stuff class as separate segments")
    g.add_argument("--ytvis-json", metavar="FILE",
                   help="instance: YouTube-VIS/OVIS JSON whose video ids the results use (default 1, 2, ...)")


def crop_config(args: argparse.Namespace, default):
    """The backend's default crop settings with the command-line overrides applied."""
    from dataclasses import replace

    changes = {k: v for k, v in (("margin", args.margin), ("treatment", args.mask_mode),
                                 ("size", args.crop_size)) if v is not None}
    return replace(default, **changes)


def make_backend(args: argparse.Namespace):
    """The backend chosen on the command line (imports happen here: clip pulls in torch)."""
    if args.backend == "clip":
        from entitysam.classify.backends.clip import ClipBackend

        if args.clip_pretrained is None:
            print("warning: --clip-pretrained not given: the CLIP model has random weights "
                  "and its labels are meaningless", file=sys.stderr)
        return ClipBackend.from_pretrained(args.clip_model, args.clip_pretrained, device=args.device,
                                           min_confidence=args.min_confidence,
                                           crop=crop_config(args, ClipBackend.default_crop))
    from entitysam.classify.backends.openai import ChatBackend, ChatConfig, default_cache_dir

    cache = None if args.no_cache else (args.cache or default_cache_dir())
    config = ChatConfig.from_env(base_url=args.base_url, model=args.model, api_key=args.api_key,
                                 concurrency=args.concurrency, rpm=args.rpm, timeout=args.timeout,
                                 retries=args.retries, max_tokens=args.max_tokens, cache_dir=cache)
    return ChatBackend(config, crop=crop_config(args, ChatBackend.default_crop))


def run(args: argparse.Namespace) -> int:
    from entitysam.classify.convert import ytvis_video_ids
    from entitysam.classify.pipeline import classify
    from entitysam.classify.vocab import load_vocabulary

    from entitysam.errors import EntitySAMError

    if args.dataset is None and (args.split is not None or args.annotations is not None):
        raise EntitySAMError(f"{'--split' if args.split is not None else '--annotations'} needs --dataset")
    vocab = load_vocabulary(args.vocab, start=args.vocab_start)
    video_ids = ytvis_video_ids(args.ytvis_json) if args.ytvis_json else None
    options = dict(merge_stuff=not args.no_merge_stuff, video_ids=video_ids, save_crops=args.save_crops,
                   progress=lambda m: print(m, file=sys.stderr))
    if args.dataset is not None:
        from entitysam.classify.dataset import classify_dataset
        from entitysam.io.datasets import open_dataset
        from entitysam.io.shards import DistContext

        open_dataset(args.frames, args.dataset, split=args.split, annotations=args.annotations,
                     skip_missing=True)  # a bad ROOT fails before the backend is built
        args.device = DistContext.from_env().device(args.device)  # cuda:LOCAL_RANK under torchrun
        summary = classify_dataset(args.tracks, args.frames, args.dataset, vocab, make_backend(args),
                                   args.output, task=args.task, split=args.split,
                                   annotations=args.annotations, merge_stuff=not args.no_merge_stuff,
                                   video_ids=video_ids, save_crops=args.save_crops)
        if DistContext.from_env().rank:
            return 0  # under torchrun, one line for the whole run
    else:
        summary = classify(args.tracks, args.frames, vocab, make_backend(args), args.output,
                           task=args.task or "panoptic", **options)
    print(summary.line())
    return 0
