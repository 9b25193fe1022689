"""``bptt explain``: the HTML page of seed 000's figures from a live model.

The command is exercised through ``bptt.cli.main(["explain", ...])``; its runs are built by :mod:`bptt.cli.explain`.
The page is rendered in headless Chromium (Debian's ``chromium``; ``.ci/run`` installs it): it must render
without console errors, every panel must be present and visible, the page must not be blank, and the step
switch must show the values of the chosen step.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import bptt
from bptt import cli, nn
from bptt.cli import explain as explain_cmd
from bptt.viz import explain as E

CHROMIUM_HELP = (
    "headless Chromium is required for the render test and was not found (tried $BPTT_CHROMIUM, chromium, "
    "chromium-browser, google-chrome on PATH). Install it: `apt-get update && apt-get install -y chromium` "
    "(Debian/Ubuntu; .ci/run does it) or set BPTT_CHROMIUM=/path/to/chromium"
)
SEED_PANELS = ["dHt", "dOt", "dCt", "dCprojt", "dFt", "dIt", "dHX", "dC_next"]
SEED_BPTT = {"dHt": "dh", "dOt": "do", "dCt": "dc", "dCprojt": "dg", "dFt": "df", "dIt": "di", "dHX": "dz",
             "dC_next": "dc_next"}


def explain_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(["explain", *map(str, args)])
    return rc, out.getvalue(), err.getvalue()


def page_data(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="bptt-data">(.*?)</script>', html, re.S)
    assert m, "the page embeds its data"
    return json.loads(m.group(1).replace("<\\/", "</"))


def panel_order(html: str) -> list[str]:
    return re.findall(r'<section class="panel[^"]*" id="([^"]+)"', html)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A tiny word-level LSTM language model trained for a few steps."""
    from bptt.training.lm import TrainConfig, train

    d = tmp_path_factory.mktemp("ckpt")
    words = "the cat sat on a mat while the dog ran to the big red ball".split()
    rng = np.random.default_rng(0)
    (d / "corpus.txt").write_text(" ".join(rng.choice(words, 300)), encoding="utf-8")
    cfg = TrainConfig(corpus=str(d / "corpus.txt"), level="word", model="lstm", hidden_size=6, num_layers=2,
                      embedding_dim=4, seq_length=6, batch_size=4, steps=3, eval_every=3, sample_every=1000,
                      log_every=3, val_fraction=0.1)
    train(cfg, d / "run")
    return d / "run"


# ---------------------------------------------------------------------------------------------- the page
def test_default_page_is_the_seed_example(tmp_path):
    out = tmp_path / "explain.html"
    rc, stdout, err = explain_cli("--out", out)
    assert rc == 0 and err == "" and f"wrote {out}" in stdout
    html = out.read_text(encoding="utf-8")
    assert panel_order(html) == E.panel_ids("lstm", head=True)
    assert panel_order(html)[3:11] == [f"panel-{s}" for s in SEED_PANELS]  # the seed's order
    for seed, ours in SEED_BPTT.items():
        sec = html.split(f'id="panel-{seed}"')[1].split("</section>")[0]
        assert f'<span class="seedname">{seed}</span>' in sec and f"<code>{ours}</code>" in sec
        assert 'class="eq"' in sec and "Shape (1, " in sec
        assert "in this example, as in the seed" in sec
        assert re.search(r'<pre data-found="[1-9]', sec), f"{seed}: its source lines were not found"
        assert 'marker-end="url(#ah)"' in sec, f"{seed}: arrows from its inputs"
    assert html.count("<b>(5X1)</b>") == 7 and "<b>(15X1)</b>" in html  # dHX: [dx (10), dh_next (5)]
    assert "the mice had" in html  # the seed's window; its step-1 loss is the seed's:
    assert abs(float(re.search(r"loss at step 1: ([0-9]+\.[0-9]+)", html).group(1)) - 1.6343186800) <= 1e-8
    # self-contained: nothing is fetched (the only URL is the SVG namespace)
    assert not re.search(r"<link|@import|<script[^>]+src=|<img[^>]+src=\"(?!data:)", html)
    assert set(re.findall(r"https?://[^\s\"')<]+", html)) <= {"http://www.w3.org/2000/svg"}


def test_page_values_are_the_traced_values(tmp_path):
    run = explain_cmd.seed_run()
    html = E.render(run, step=1)
    data = page_data(html)
    lt = run.trace["lstm"][0]
    assert data["T"] == 3 and data["t"] == 1
    for key, arr in (("bw:dc", lt.backward["dc"]), ("bw:dg", lt.backward["dg"]), ("fw:f", lt.forward["f"]),
                     ("bw:dh_next", lt.backward["dh_next"]), ("bw:dz", lt.backward["dz"])):
        np.testing.assert_allclose(data["values"][key], arr[:, 0, : E.CAP], rtol=1e-5, atol=1e-12)
    # the numbers drawn for the chosen step are that step's
    shown = re.findall(r'<text class="v"[^>]*data-q="bw:dc" data-i="(\d)">([^<]+)</text>', html)
    assert shown and all(txt == E.number(lt.backward["dc"][1, 0, int(i)]) for i, txt in shown)
    assert 'data-step="1">t = 1 · mice' in html.replace('class="stepbtn cur" ', 'class="stepbtn" ')
    dW = data["values"]["bw:dW"]
    ref = np.concatenate([lt.backward["dW_ih"], lt.backward["dW_hh"]], axis=2)[:, : E.CAP_M, : E.CAP_M]
    np.testing.assert_allclose(np.array(dW).reshape(ref.shape), ref, rtol=1e-5, atol=1e-12)


@pytest.mark.parametrize("args,where", [
    (["--variant", "bi", "--direction", "reverse", "--step", "0"], "layer 0, reverse direction"),
    (["--variant", "multi", "--layer", "1", "--step", "-1"], "layer 1, forward direction"),
    (["--variant", "multi", "--layer", "0"], "layer 0, forward direction"),
])
def test_layer_direction_step_options(tmp_path, args, where):
    out = tmp_path / "p.html"
    rc, _, err = explain_cli("--out", out, *args)
    assert rc == 0, err
    html = out.read_text(encoding="utf-8")
    assert where in html
    head = "--layer" not in args or args[args.index("--layer") + 1] == "1"
    assert panel_order(html) == E.panel_ids("lstm", head=head)


@pytest.mark.parametrize("args,message", [
    (["--step", "3"], "--step 3 is out of range: the sequence has T=3 time steps (valid: 0..2)"),
    (["--step", "-4"], "--step -4 is out of range: the sequence has T=3 time steps (valid: 0..2)"),
    (["--layer", "1"], "--layer 1 does not exist: the LSTM (module lstm) has 1 layer (valid: 0)"),
    (["--variant", "multi", "--layer", "2"],
     "--layer 2 does not exist: the LSTM (module lstm) has 2 layers (valid: 0..1)"),
    (["--layer", "-1"], "--layer -1 does not exist: the LSTM (module lstm) has 1 layer (valid: 0)"),
    (["--direction", "reverse"],
     "--direction reverse does not exist: the LSTM (module lstm) is not bidirectional (valid: forward)"),
    (["--batch-index", "1"], "--batch-index 1 is out of range: the batch has B=1 sequence (valid: 0)"),
    (["--checkpoint", "{tmp}/nothing"], "{tmp}/nothing"),
    (["--out", "{tmp}"], "is a directory"),
    (["--out", "{tmp}/no/such/dir/p.html"], "does not exist"),
])
def test_bad_input_gives_one_clear_line(tmp_path, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "p.html")]
    rc, stdout, err = explain_cli(*args)
    assert rc == 2 and stdout == ""
    assert err.count("\n") == 1 and err.startswith("bptt explain: error: "), err
    assert message.replace("{tmp}", str(tmp_path)) in err
    assert not (tmp_path / "p.html").exists()


def test_bad_choices_are_argparse_errors(capsys):
    for args in (["--direction", "sideways"], ["--step", "two"], ["--length", "0"]):
        with pytest.raises(SystemExit) as exc:
            cli.main(["explain", *args])
        assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'sideways'" in err and "--step must be an integer, got 'two'" in err
    assert "--length must be in [1, 2000], got 0" in err


def test_trained_checkpoint(tmp_path, checkpoint):
    out = tmp_path / "ck.html"
    npz = tmp_path / "trace.npz"
    rc, stdout, err = explain_cli("--checkpoint", checkpoint, "--out", out, "--length", "5", "--layer", "1",
                                  "--npz", npz)
    assert rc == 0, err
    html = out.read_text(encoding="utf-8")
    assert panel_order(html) == E.panel_ids("lstm", head=True)
    data = page_data(html)
    assert data["T"] == 5 and data["t"] == 4
    assert "word-level language model" in html and "layer 1, forward direction" in html
    tr = bptt.trace.load(npz)
    lt = tr["rnn"][1]
    np.testing.assert_allclose(data["values"]["bw:dc"], lt.backward["dc"][:, 0, : E.CAP], rtol=1e-5, atol=1e-12)
    rc, _, err = explain_cli("--checkpoint", checkpoint, "--out", out, "--layer", "2")
    assert rc == 2 and "--layer 2 does not exist: the LSTM (module rnn) has 2 layers (valid: 0..1)" in err
    rc, _, err = explain_cli("--checkpoint", checkpoint, "--out", out, "--text", "the cat", "--length", "3")
    assert rc == 0 and page_data(out.read_text(encoding="utf-8"))["T"] == 3
    rc, _, err = explain_cli("--checkpoint", checkpoint, "--out", out, "--text", "zebra")
    assert rc == 2 and err.startswith("bptt explain: error: --text:")


#: every kind the page draws: (layer class, whether it has a reverse direction)
KINDS = {"gru": (nn.GRU, True), "rnn": (nn.RNN, True), "lnlstm": (nn.LayerNormLSTM, True), "lstm": (nn.LSTM, True),
         "mingru": (nn.MinGRU, True), "slstm": (nn.SLSTM, False)}
REFERENCE = {"lstm": "lstm", "lnlstm": "ln_lstm", "gru": "gru", "rnn": "rnn", "mingru": "min_gru", "slstm": "slstm"}


@pytest.mark.parametrize("kind", list(KINDS))
def test_render_any_kind_from_a_trace(kind):
    rng = np.random.default_rng(1)
    make, bidirectional = KINDS[kind]
    mod = make(3, 4, 2, bidirectional=True, dtype=np.float64, rng=0) if bidirectional else make(
        3, 4, 2, dtype=np.float64, rng=0)
    x = rng.standard_normal((4, 2, 3))
    with bptt.trace() as tr:
        out, _ = mod(x)
        mod.backward(rng.standard_normal(out.shape))
    direction = "reverse" if bidirectional else "forward"
    html = E.render(E.Run(tr), layer=1, direction=direction, batch_index=1, step=2)
    assert panel_order(html) == E.panel_ids(kind, head=False)
    assert 'data-found="0"' not in html, "every panel shows its source lines"
    data = page_data(html)
    name = tr.names[0]
    lt = tr[name][1, int(bidirectional)]
    np.testing.assert_allclose(data["values"]["bw:dh"], lt.backward["dh"][:, 1, :], rtol=1e-5, atol=1e-12)
    for spec in E.VIEWS[kind].panels:  # every panel's result is the traced quantity of that name
        for key, _ in spec.results:
            np.testing.assert_allclose(data["values"][key], lt.backward[key[3:]][:, 1, : E.CAP], rtol=1e-5,
                                       atol=1e-12, err_msg=f"{kind} {spec.seed} {key}")
    with pytest.raises(E.ExplainError, match="--batch-index 2 is out of range: the batch has B=2 sequences"):
        E.render(E.Run(tr), batch_index=2)


def test_every_panel_quotes_the_reference_lines_that_assign_its_quantity():
    """For every panel of every cell kind, the quoted lines are the reference's own (same text as the file at
    that line number), each quoted statement assigns one of the names the panel quotes (parsed with ast), and
    the panel's quantity is among them."""
    assert set(E.VIEWS) == set(KINDS) == set(REFERENCE)
    for kind, view in E.VIEWS.items():
        ref = view.reference
        assert ref.__name__ == f"bptt.functional.reference.{REFERENCE[kind]}"
        assert view.panels[0].seed == "dHt"
        file_lines = Path(ref.__file__).read_text(encoding="utf-8").splitlines()
        for spec in view.panels:
            assert spec.q in spec.quote, f"{kind} {spec.seed}: does not quote the line assigning {spec.q}"
            assert spec.q in ref.StepGrads._fields, f"{kind} {spec.seed}: {spec.q} is not a traced quantity"
            lines = E.quote(ref, view.function, spec.quote)
            for line in lines:  # the quoted text is the file's line (the comment split off)
                text = file_lines[line.lineno - 1]
                assert text.strip().startswith(line.code) and line.comment in text
            assigned: set[str] = set()
            for stmt in _statements(file_lines, [line.lineno for line in lines]):
                node = ast.parse(stmt).body[0]
                if isinstance(node, ast.If):  # the condition of a quoted branch
                    continue
                assert isinstance(node, (ast.Assign, ast.AugAssign)), stmt
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
                assert names & set(spec.quote), f"{kind} {spec.seed}: {stmt!r} assigns none of {spec.quote}"
                assigned |= names
            assert spec.q in assigned, f"{kind} {spec.seed}: no quoted line assigns {spec.q}"


def _statements(file_lines: list[str], numbers: list[int]) -> list[str]:
    """The quoted lines grouped into whole statements (a line that does not parse alone continues); an
    ``if ...:`` line becomes ``if ...: pass``, ``else:`` lines are dropped."""
    out, cur = [], []
    for n in numbers:
        text = file_lines[n - 1].split("  #")[0].strip()
        if text == "else:":
            continue
        cur.append(text + (" pass" if text.startswith("if ") else ""))
        try:
            ast.parse(" ".join(cur))
        except SyntaxError:
            continue
        out.append(" ".join(cur))
        cur = []
    assert not cur, f"an unfinished statement: {cur}"
    return out


def test_the_page_quotes_only_the_textbook():
    """No fused-kernel fragments (out= buffers, pre-scaled factors) on any page; the two tiers are named once."""
    for kind, (make, _) in KINDS.items():
        mod = make(3, 4, dtype=np.float64, rng=0)
        with bptt.trace() as tr:
            out, _ = mod(np.ones((3, 1, 3)))
            mod.backward(np.ones_like(out))
        html = E.render(E.Run(tr))
        srcs = re.findall(r'<aside class="src">(.*?)</aside>', html, re.S)
        assert len(srcs) == len(E.VIEWS[kind].panels)
        for src in srcs:
            assert "bptt/functional/reference/" in src and "step_backward" in src
            assert "out=" not in src and "Pf" not in src and "ws" not in src
        assert " ".join(html.split()).count("proven equal to it (to 1e-12 in float64)") == 1


# ---------------------------------------------------------------------------------------------- gradient flow
def test_flow_without_matplotlib_fails_with_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` raise ImportError
    out = tmp_path / "p.html"
    rc, stdout, err = explain_cli("--out", out, "--flow")
    assert rc == 2 and err.count("\n") == 1
    assert "--flow needs matplotlib" in err and "pip install 'bptt[plot]'" in err
    assert not out.exists()
    rc, _, _ = explain_cli("--out", out)  # without --flow the page needs no matplotlib
    assert rc == 0 and out.exists() and "panel-gradient-flow" not in out.read_text(encoding="utf-8")


def test_flow_pictures(tmp_path):
    out = tmp_path / "p.html"
    if importlib.util.find_spec("matplotlib") is None:  # the optional extra is not installed: clear error
        rc, _, err = explain_cli("--out", out, "--flow")
        assert rc == 2 and "--flow needs matplotlib" in err
        return
    path = explain_cmd.write_page(out, flow=True, flow_options={"T": 20, "steps": 5})
    html = path.read_text(encoding="utf-8")
    assert panel_order(html)[-1] == "panel-gradient-flow"
    assert html.count('src="data:image/png;base64,') == 2
    for name in ("p_gradient_flow.png", "p_gate_norms.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------------------------- Chromium
def chromium() -> str:
    """The Chromium binary: $BPTT_CHROMIUM, else the first of chromium / chromium-browser / google-chrome on PATH.

    When none is found the test is skipped with the install hint, except under BPTT_REQUIRE_BROWSER=1 (CI sets
    it), where a missing browser is a failure: the render test must never silently stop running there.
    """
    given = os.environ.get("BPTT_CHROMIUM")
    if given:
        exe = shutil.which(given)
        if not exe:
            pytest.fail(f"BPTT_CHROMIUM={given!r} is not an executable file")
        return exe
    for name in ("chromium", "chromium-browser", "google-chrome"):
        exe = shutil.which(name)
        if exe:
            return exe
    if os.environ.get("BPTT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"BPTT_REQUIRE_BROWSER=1: {CHROMIUM_HELP}")
    pytest.skip(CHROMIUM_HELP)


def run_chromium(tmp_path: Path, url: str, *extra: str) -> tuple[str, list[str]]:
    """Run headless Chromium on ``url``; return stdout and the page's console messages."""
    profile = tmp_path / f"profile{len(list(tmp_path.glob('profile*')))}"
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
           *extra, url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return proc.stdout, console


@pytest.mark.browser
def test_page_renders_in_headless_chromium(tmp_path):
    chromium()  # skip (or fail under BPTT_REQUIRE_BROWSER=1) before any work when there is no browser
    page = tmp_path / "explain.html"
    rc, _, err = explain_cli("--out", page)
    assert rc == 0, err
    expected = E.panel_ids("lstm", head=True)

    # the console capture works: a broken page is caught
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><body><script>undefinedFunction();</script></body></html>")
    _, console = run_chromium(tmp_path, bad.as_uri())
    assert any("undefinedFunction" in line for line in console), "console capture does not work"

    dom, console = run_chromium(tmp_path, page.as_uri(), "--dump-dom")
    assert console == [], f"the page logged to the console: {console}"
    m = re.search(r'data-selftest="panels:(\d+) visible:(\d+) expected:(\d+) cells:(\d+) errors:(\d+)"', dom)
    assert m, f"the page's self-test did not run; DOM starts {dom[:300]!r}"
    panels, visible, exp, cells, errors = map(int, m.groups())
    assert panels == visible == exp == len(expected) and errors == 0, m.group(0)
    assert cells > 300, "the page is (nearly) empty"
    vis = re.search(r'data-visible-panels="([^"]*)"', dom).group(1).split()
    assert vis == expected, f"panels not visible: {set(expected) - set(vis)}"

    # the step switch: #t=0 shows step 0's values
    lt = explain_cmd.seed_run().trace["lstm"][0]
    dom0, console = run_chromium(tmp_path, page.as_uri() + "#t=0", "--dump-dom")
    assert console == []
    shown = re.findall(r'<text class="v"[^>]*data-q="bw:dc" data-i="(\d)">([^<]+)</text>', dom0)
    assert shown and all(float(txt) == pytest.approx(lt.backward["dc"][0, 0, int(i)], abs=1e-4)
                         for i, txt in shown)
    assert 'class="stepbtn cur" data-step="0"' in dom0

    # not blank: a real screenshot of a page full of colour
    shot = tmp_path / "shot.png"
    run_chromium(tmp_path, page.as_uri(), f"--screenshot={shot}", "--window-size=1280,1600", "--hide-scrollbars")
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", png[16:24])
    assert (w, h) == (1280, 1600)
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>")
    shot0 = tmp_path / "blank.png"
    run_chromium(tmp_path, blank.as_uri(), f"--screenshot={shot0}", "--window-size=1280,1600")
    assert len(png) > 10 * len(shot0.read_bytes()), "the screenshot looks blank"


@pytest.mark.browser
@pytest.mark.parametrize("kind", ["mingru", "slstm"])
def test_other_cells_pages_render_in_headless_chromium(tmp_path, kind):
    """The pages of the cells beyond the LSTM family run the same script: no console output, every panel
    present and visible."""
    chromium()
    make, _ = KINDS[kind]
    mod = make(3, 5, dtype=np.float64, rng=0)
    rng = np.random.default_rng(3)
    with bptt.trace() as tr:
        out, _ = mod(rng.standard_normal((4, 2, 3)))
        mod.backward(rng.standard_normal(out.shape))
    page = tmp_path / f"{kind}.html"
    page.write_text(E.render(E.Run(tr)), encoding="utf-8")
    dom, console = run_chromium(tmp_path, page.as_uri(), "--dump-dom")
    assert console == [], f"the page logged to the console: {console}"
    m = re.search(r'data-selftest="panels:(\d+) visible:(\d+) expected:(\d+) cells:(\d+) errors:(\d+)"', dom)
    assert m, f"the page's self-test did not run; DOM starts {dom[:300]!r}"
    panels, visible, exp, cells, errors = map(int, m.groups())
    expected = E.panel_ids(kind, head=False)
    assert panels == visible == exp == len(expected) and errors == 0 and cells > 200, m.group(0)
    assert re.search(r'data-visible-panels="([^"]*)"', dom).group(1).split() == expected


def test_missing_browser_skips_with_the_hint_but_fails_when_required(tmp_path, monkeypatch):
    """No Chromium: a skip naming the install command; under BPTT_REQUIRE_BROWSER=1 (CI) a failure."""
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no browser on PATH
    monkeypatch.delenv("BPTT_CHROMIUM", raising=False)
    monkeypatch.delenv("BPTT_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium.*BPTT_CHROMIUM="):
        chromium()
    monkeypatch.setenv("BPTT_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="BPTT_REQUIRE_BROWSER=1: headless Chromium is required"):
        chromium()
    monkeypatch.setenv("BPTT_CHROMIUM", str(tmp_path / "no-such-chromium"))
    with pytest.raises(pytest.fail.Exception, match="is not an executable file"):
        chromium()
    fake = tmp_path / "my-chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("BPTT_CHROMIUM", str(fake))
    assert chromium() == str(fake)
