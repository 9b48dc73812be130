"""python -m quantize: export, quantize, distill, evaluate, register and report model variants.

    python -m quantize export SRC_DIR OUT.onnx              BERT-family safetensors -> ONNX (no torch)
    python -m quantize export SRC OUT_DIR --to onnx|openvino  HF directory or GGUF file through optimum(-intel)
    python -m quantize int8 IR_DIR OUT_DIR [--method int8-asym|int8-sym]   NNCF weight compression of an IR
    python -m quantize int4 IR_DIR OUT_DIR [--method int4-sym|int4-asym]   (the torch extra: .venv-quantize)
    python -m quantize ct2 SRC OUT_DIR --quantization int8   HF directory or GGUF file -> CTranslate2
    python -m quantize int8 SRC.onnx OUT.onnx --method M     ONNX Runtime: dynamic-int8, dynamic-int8-per-tensor,
                                                             static-int8 (calibrated), weight-int8
    python -m quantize int4 SRC.onnx OUT.onnx                weight-only int4 (MatMulNBits)
    python -m quantize register --model BASE --method M --name NEW   build, evaluate, gate, add to models/
    python -m quantize eval --profile P [--record]           measure every model setting a profile uses
    python -m quantize eval-llm VARIANT [--record]           an LLM variant (.onnx / IR dir): perplexity, acceptance
    python -m quantize distill --out student.npz             the topic tagger's student (kept only if it passes)
    python -m quantize distill --speed student.npz           its sentences/s beside the teacher's (a timing)
    python -m quantize report [--json]                       every measured variant per device profile
    python -m quantize tensorrt SRC.onnx OUT.engine          (Jetson only) FP16 TensorRT engine
    python -m quantize tensorrt SRC.onnx OUT.engine --precision int8 --calibration SET.npz
    python -m quantize calibration-set OUT.npz               the embedder's INT8 calibration batches
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from edge.errors import EdgeError

NNCF_METHODS = ("int8-asym", "int8-sym", "int4-sym", "int4-asym")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="python -m quantize", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n")[1])
    sub = p.add_subparsers(required=True, dest="command")
    e = sub.add_parser("export", help="BERT-family checkpoint to one ONNX file (no torch), or with --to any HF "
                       "directory / GGUF file to an ONNX or OpenVINO IR directory (optimum, the torch extra)")
    e.add_argument("src", type=Path)
    e.add_argument("out", type=Path)
    e.add_argument("--to", choices=["onnx", "openvino"], help="export through optimum (onnx) or optimum-intel "
                   "(openvino); without it, the torch-free BERT exporter the box's provisioning uses")
    e.add_argument("--task", help="optimum task (default: text-generation-with-past for a causal LM, else "
                   "feature-extraction)")
    for name, help in (("int8", "int8 quantization of an ONNX graph"), ("int4", "weight-only int4 of an ONNX graph")):
        q = sub.add_parser(name, help=help)
        q.add_argument("src", type=Path)
        q.add_argument("out", type=Path)
        # ONNX Runtime methods for an .onnx file, NNCF methods for an OpenVINO IR directory (chosen by SRC).
        if name == "int8":
            q.add_argument("--method", choices=["dynamic-int8", "dynamic-int8-per-tensor", "static-int8",
                                                "weight-int8", "int8-asym", "int8-sym"],
                           help="default: weight-int8 for ONNX, int8-asym for an IR directory")
        else:
            q.add_argument("--method", choices=["int4-sym", "int4-asym"], help="IR directory only (default int4-sym)")
            q.add_argument("--group-size", type=int, help="IR: weights per int4 scale (default 64)")
            q.add_argument("--ratio", type=float, help="IR: share of layers in int4, the rest int8 (default 1.0)")
    ct = sub.add_parser("ct2", help="HF directory or GGUF file to CTranslate2 (the torch extra)")
    ct.add_argument("src", type=Path)
    ct.add_argument("out", type=Path)
    ct.add_argument("--quantization", default="int8", help="stored weight type: int8, int8_float32, float16, ...")
    r = sub.add_parser("register", help="build a variant of a registered model; keep it only if it passes its gate")
    r.add_argument("--model", required=True, help="the registered base model, e.g. minilm-l6-v2")
    r.add_argument("--file", default="model.onnx", help="which of its ONNX files to quantize")
    r.add_argument("--method", required=True)
    r.add_argument("--name", required=True, help="the new registry name, e.g. minilm-l6-v2-w8")
    v = sub.add_parser("eval", help="measure the model settings of a device profile against their references")
    v.add_argument("--profile", required=True)
    v.add_argument("--record", action="store_true", help="write the rows to models/<model>.evidence.json")
    v.add_argument("--only", choices=["asr", "vad", "embeddings", "llm", "ocr"], action="append")
    lv = sub.add_parser("eval-llm", help="perplexity and draft acceptance of an LLM variant against its fp32 "
                        "reference; the gate's verdict (exit 1 when refused)")
    lv.add_argument("variant", type=Path, help="an ONNX decoder file or an OpenVINO IR directory")
    lv.add_argument("--model", default="smollm2-135m-instruct", help="the registered model it is a variant of")
    lv.add_argument("--reference", type=Path, help="fp32 ONNX export (default build/quantize/llm/MODEL-fp32/model.onnx)")
    lv.add_argument("--record", action="store_true", help="write the row (passed or refused) to models/MODEL.evidence.json")
    d = sub.add_parser("distill", help="train the topic tagger's student on the teacher's soft labels")
    d.add_argument("--out", type=Path, default=Path("build/quantize/tagger-student.npz"))
    d.add_argument("--speed", type=Path, metavar="STUDENT", help="time a trained student against the teacher")
    rp = sub.add_parser("report", help="every measured variant per device profile")
    rp.add_argument("--json", action="store_true")
    t = sub.add_parser("tensorrt", help="FP16 or calibrated INT8 TensorRT engine from ONNX (Jetson only)")
    t.add_argument("src", type=Path)
    t.add_argument("out", type=Path)
    t.add_argument("--precision", choices=["fp16", "int8"], default="fp16")
    t.add_argument("--calibration", type=Path, help="int8: calibration set (python -m quantize calibration-set)")
    t.add_argument("--batch-size", type=int, default=8)
    c = sub.add_parser("calibration-set", help="INT8 calibration batches for the sentence embedder (numpy .npz)")
    c.add_argument("out", type=Path)
    c.add_argument("--seq-len", type=int, default=64)
    args = p.parse_args(argv)
    command = "python -m quantize " + " ".join(shlex.quote(a) for a in argv)
    try:
        return _run(args, command)
    except EdgeError as exc:
        print(f"quantize: error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, command: str) -> int:
    if args.command == "export" and args.to:
        from quantize.export_hf import export as export_hf

        print(f"wrote {export_hf(args.src, args.out, args.to, task=args.task)}")
    elif args.command == "export":
        from quantize.bert_onnx import export

        if args.task:
            print("--task applies with --to onnx|openvino only", file=sys.stderr)
            return 2
        print(f"wrote {export(args.src, args.out)}")
    elif args.command == "ct2":
        from quantize.ct2_convert import convert

        print(f"wrote {convert(args.src, args.out, args.quantization)}")
    elif args.command in ("int8", "int4") and (args.src.is_dir() or args.method in NNCF_METHODS):
        from quantize.nncf_compress import compress

        method = args.method or ("int8-asym" if args.command == "int8" else "int4-sym")
        if not method.startswith(args.command):
            print(f"--method {method} is for ONNX files; an IR directory takes "
                  f"{args.command}-asym or {args.command}-sym", file=sys.stderr)
            return 2
        done = compress(args.src, args.out, method, group_size=getattr(args, "group_size", None),
                        ratio=getattr(args, "ratio", None))
        print(f"wrote {done}")
    elif args.command in ("int8", "int4"):
        from quantize.onnx_quant import quantize

        if args.command == "int4" and (args.method or args.group_size or args.ratio):
            print("--method, --group-size and --ratio apply to an OpenVINO IR directory; an ONNX file gets "
                  "MatMulNBits int4 (block 32)", file=sys.stderr)
            return 2
        method = (args.method or "weight-int8") if args.command == "int8" else "weight-int4"
        if method == "static-int8":
            print("static-int8 needs calibration data: use `register` (it calibrates a sentence encoder on "
                  "bench/data/topics_tune.jsonl)", file=sys.stderr)
            return 2
        print(f"wrote {quantize(args.src, args.out, method)}")
    elif args.command == "register":
        from quantize.register import GateRefused, register

        try:
            done = register(args.model, args.method, args.name, file=args.file, command=command)
        except GateRefused as exc:
            print(f"refused: {exc}", file=sys.stderr)
            return 1
        print(f"registered {done.name}: {done.row.gate}")
    elif args.command == "eval":
        return _eval(args, command)
    elif args.command == "eval-llm":
        return _eval_llm(args, command)
    elif args.command == "distill":
        from quantize.distill import distill, speed

        if args.speed:
            print(json.dumps(speed(args.speed), indent=1))
            return 0
        args.out.parent.mkdir(parents=True, exist_ok=True)
        result = distill(args.out)
        print(json.dumps(result, indent=1))
        if not result["passed"]:
            print(f"refused: {result['gate']}, short by {result['short_by_points']} points; "
                  f"nothing written to {args.out} (the refused student, for inspection: "
                  f"{result.get('refused_student')})", file=sys.stderr)
            return 1
    elif args.command == "calibration-set":
        from quantize.tensorrt import embedder_calibration_set

        print(f"wrote {embedder_calibration_set(args.out, seq_len=args.seq_len)}")
    elif args.command == "report":
        from quantize.report import main as report

        return report(args.json)
    elif args.command == "tensorrt":
        from quantize.tensorrt import TensorRTUnavailable, build_engine

        try:
            built = build_engine(args.src, args.out, precision=args.precision, calibration=args.calibration,
                                 batch_size=args.batch_size)
            print(f"wrote {built}")
        except ValueError as exc:
            print(f"quantize: error: {exc}", file=sys.stderr)
            return 2
        except TensorRTUnavailable as exc:
            print(f"skipped: {exc}", file=sys.stderr)
            return 0
    return 0


def _eval_llm(args: argparse.Namespace, command: str) -> int:
    from edge import evidence
    from quantize.evaluate import eval_llm

    if not args.variant.exists():
        print(f"quantize: error: {args.variant} does not exist (give an .onnx decoder file or an OpenVINO IR "
              "directory with openvino_model.xml)", file=sys.stderr)
        return 2
    row = eval_llm(args.model, "", reference=args.reference, variant=args.variant)
    row.command = command
    print(json.dumps(row.to_json()))
    if args.record:
        evidence.record(row.to_json(), args.model)
    if not row.passed:
        print(f"refused: {row.variant}: {row.gate}", file=sys.stderr)
        return 1
    print(f"passes: {row.variant}: {row.gate}")
    return 0


def _eval(args: argparse.Namespace, command: str) -> int:
    from edge import evidence
    from edge.profiles import load_profile
    from quantize import evaluate

    profile = load_profile(args.profile)
    wanted = set(args.only or ["asr", "vad", "embeddings", "llm", "ocr"])
    rows = []
    if "asr" in wanted:
        rows.append((profile.asr.engine.model, evaluate.eval_asr(profile.asr.engine.model, profile.asr.engine.compute_type)))
    if "vad" in wanted:
        rows.append((profile.vad.model, evaluate.eval_vad(profile.vad.model, profile.vad.backend,
                                                          profile.vad.precision or "f32")))
    if "embeddings" in wanted and profile.tagging.enabled:
        e = profile.tagging.embeddings
        rows.append((e.model, evaluate.eval_embeddings(e.model, e.file, backend=e.backend)))
    llm = getattr(profile, "llm", None)
    if "llm" in wanted and llm is not None:
        if evaluate.llm_reference(llm.model).is_file():
            runtime = {"dynamic_quantization_group_size": llm.dynamic_quantization_group_size,
                       "kv_cache_precision": llm.kv_cache_precision}
            rows.append((llm.model, evaluate.eval_llm(llm.model, llm.backend, llm.precision or "f32",
                                                      runtime=runtime)))
        else:  # the reference needs the torch environment: the other tasks' rows are still measured
            print(f"skipped llm: no fp32 reference at {evaluate.llm_reference(llm.model)}; make it with "
                  f".venv-quantize/bin/python -m quantize export <the model's GGUF> "
                  f"{evaluate.llm_reference(llm.model).parent} --to onnx", file=sys.stderr)
    vision = getattr(profile, "vision", None)
    if "ocr" in wanted and vision is not None and vision.ocr.enabled:
        rows.append((evidence.OCR_MODEL, evaluate.eval_ocr(vision.ocr.engine, vision.ocr.precision)))
    failed = 0
    for model, row in rows:
        row.command = command
        print(json.dumps(row.to_json()))
        failed += not row.passed
        if args.record:
            evidence.record(row.to_json(), model)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
