"""``lsdlab demo``: the main job, end to end, on embedded defaults.

1. Validate and summarise the demo corpus.
2. Evaluate the detector on it, beside the Asterisk app_amd baseline.
3. Start the simulated far end and place real SIP calls over 127.0.0.1 with live speaker
   detection: a person, an answering machine (wait for its beep, leave a message, check the
   far end recorded it), a fax, a busy line.
4. Tune the detector and its timeout for a country's rules, export the settings, and place a
   call with the exported file.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .._validation import int_arg


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the main job on the embedded demo corpus (corpus, evaluation, real SIP calls, tuning)")
    p.add_argument("--corpus", default=None,
                   help="corpus folder (default: the checkout's corpora/demo; after a wheel install, the demo corpus "
                        "built once into ~/.cache/lsdlab/demo-corpus, which needs the Debian packages espeak-ng, "
                        "flite and asterisk-core-sounds-en-wav)")
    p.add_argument("--country", default="US", help="country profile to tune for (default US)")
    p.add_argument("--trials", type=int_arg(1, 100000), default=60, help="tuner trials (default 60)")
    p.add_argument("--out", default="out", help="folder for the exported settings (default ./out)")
    p.add_argument("--no-sip", action="store_true", help="skip the real SIP calls")
    p.set_defaults(func=run)


def _step(n: int, text: str) -> None:
    print(f"\n== {n}. {text}", flush=True)


def _pick(corpus, label: str, pred=lambda c: True):
    for c in corpus.calls:
        if c.label.value == label and pred(c):
            return c
    raise LookupError(label)


def run(args) -> int:
    from ..corpus import load_corpus
    from ..detect import DetectorSettings
    from ..detect.app_amd import AmdSettings
    from ..evaluation.metrics import figures
    from ..evaluation.runner import run_corpus
    from .detect import format_figures

    t0 = time.time()
    _step(1, "the demo corpus")
    corpus = load_corpus(args.corpus if args.corpus is not None else _find_demo_corpus())
    print(f"{corpus.root}: {len(corpus)} calls {corpus.counts()}, sha256 {corpus.sha256[:12]}")

    _step(2, "the detector on every call (offline far end), beside Asterisk app_amd")
    figs = {}
    for name, s in (("lsdlab", DetectorSettings()), ("app_amd", AmdSettings())):
        ds = run_corpus(corpus, s, jobs=2)
        figs[name] = figures(ds, delay_limit_ms=2000, delay_reference="greeting_end", agent_connect_ms=0)
    print(format_figures(figs["lsdlab"], corpus=str(corpus.root), backend="default"))
    a = figs["app_amd"]
    print(f"\napp_amd baseline on the same calls: humans called machine {100 * (a.human_false_positive_rate or 0):.1f}%, "
          f"machine recall {100 * (a.machine_recall or 0):.1f}%, fax recall {100 * (a.fax_recall or 0):.1f}%")

    settings_path = None
    _step(3, f"tune for {args.country} and export the settings")
    try:
        settings_path = _tune(corpus, args)
    except Exception as exc:  # noqa: BLE001 - the demo reports and goes on
        print(f"tuning did not produce a settings file: {exc}")

    if not args.no_sip:
        from .._extras import MissingExtraError, require

        _step(4, "real SIP calls over 127.0.0.1 to the simulated far end")
        try:
            require("sip", "Placing SIP calls")
        except MissingExtraError as exc:
            print(f"skipped: {exc}")
        else:
            _calls(corpus, settings_path)
    print(f"\ndemo finished in {time.time() - t0:.0f} s")
    return 0


def _find_demo_corpus() -> Path:
    from ..data import demo_corpus, demo_corpus_cache
    from ..errors import AudioError

    def say(done: int, total: int) -> None:
        if done == total or done % 50 == 0:
            print(f"  built {done}/{total} calls", flush=True)

    try:
        return demo_corpus(progress=say)
    except AudioError as exc:
        raise AudioError(
            f"lsdlab demo needs the demo corpus, and building it into {demo_corpus_cache()} failed: {exc} "
            f"Or pass --corpus DIR with a corpus of your own (or a checkout's corpora/demo)."
        ) from None


def _tune(corpus, args) -> Path | None:
    from ..rules import load_profile
    from ..tune import export, tune

    profile = load_profile(args.country)
    res = tune(corpus, profile, n_trials=args.trials, seed=0, progress=False, jobs=2)
    print(res.summary())
    if not res.feasible:
        return None
    Path(args.out).mkdir(parents=True, exist_ok=True)  # the demo's own output folder (--out, default ./out)
    out = Path(args.out) / f"settings-{profile.code}.json"
    export(res, out)
    print(f"exported {out}")
    return out


def _calls(corpus, settings_path) -> None:
    from .. import UASCallChannel
    from ..audio.io import load as load_audio
    from ..data import message_wav
    from ..farend import SimulatedFarEnd

    human = _pick(corpus, "human", lambda c: c.answer_s is None and c.greeting_end_s is not None and c.greeting_end_s < 2.5)
    # a long greeting with a beep: a machine verdict needs 3 s of speech (min_machine_speech_ms);
    # short greetings are left to an agent
    machine = _pick(corpus, "machine", lambda c: c.beep_s is not None and c.answer_s is None and c.beep_s > 5.5
                    and c.notes.startswith(("personal", "business")))
    fax = _pick(corpus, "fax")
    with SimulatedFarEnd(corpus.root, after="silence") as far:
        ch = UASCallChannel()
        LSD = ch.LiveSpeakerDetectionSettings
        for what, call in (("person", human), ("answering machine", machine), ("fax", fax)):
            st = ch.call(far.uri(call.path), live_speaker_detect=LSD.DEFAULT, lsd_timeout_milliseconds=5000, seconds_timeout=20)
            d = ch.Details
            print(f"{what:<18} {call.path:<24} state {st.name:<9} far_end_type {d.far_end_type.name:<15} "
                  f"reason {getattr(d.lsd_reason, 'name', '-'):<15} at {d.lsd_decided_at_s or 0:.2f} s, codec {d.codec}")
            if call is machine and d.far_end_type == ch.CallFarEndType.ANSWER_MACHINE:
                ready = ch.wait_for_answer_machine(seconds_timeout=15)
                msg = message_wav()
                ch.FilePlayer.play(str(msg))
                print(f"{'':<18} machine ready to record: {ready}; left a {load_audio(msg)[0].size / 8000:.1f} s message")
                call_id = d.sip_call_id
                ch.hang_up()
                rec = far.call_by_id(call_id)
                if rec.recording is None:
                    print(f"{'':<18} the far end kept no recording")
                    continue
                y, _ = load_audio(rec.recording)
                import numpy as np

                loud = np.flatnonzero(np.abs(y) > 0.01)
                first = loud[0] / 8000 if loud.size else None
                print(f"{'':<18} the far end recorded our message from {first:.2f} s (its beep starts at {machine.beep_s:.2f} s)"
                      if first is not None else f"{'':<18} the far end recorded nothing")
            else:
                ch.hang_up()
        st = ch.call(far.uri(scenario="busy"), seconds_timeout=10)
        print(f"{'busy line':<18} {'':<24} state {st.name:<9} cause {ch.cause().name} (SIP {ch.Details.raw_cause})")
        if settings_path is not None:
            st = ch.call(far.uri(machine.path), live_speaker_detect=str(settings_path), seconds_timeout=20)
            d = ch.Details
            print(f"{'with ' + settings_path.name:<18} {machine.path:<24} state {st.name:<9} far_end_type "
                  f"{d.far_end_type.name} after {d.lsd_decided_at_s or 0:.2f} s")
            ch.hang_up()
