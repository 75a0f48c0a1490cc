"""The registry, exercised with real distributions found by importlib.metadata in fresh interpreters."""

from __future__ import annotations

from pathlib import Path

GOOD = """
import affectproxy as ap

class Const:
    sample_rate = None
    min_duration = 0.0
    def __init__(self, name="const", value=0.5):
        self.name, self.value = name, value
        self.dimensions = (ap.Dimension("arousal"),)
    def fingerprint(self):
        return {"value": self.value}
    def evaluate(self, segments):
        return [ap.EmotionEstimate(s.id, self.name, {"arousal": self.value}) for s in segments]

@ap.hookimpl
def affectproxy_evaluators():
    yield ap.EvaluatorSpec("const", Const, "a constant", check=lambda: ap.CheckResult(False, "no weights in DIR"))
    yield ap.EvaluatorSpec("needs_pkg", Const, "needs a package", requires=("no_such_pkg_xyz",),
                           extra="pip install affectproxy-needs")
"""


def test_broken_plugin_is_listed_and_the_others_still_load(tmp_path: Path, run_python, make_distribution) -> None:
    root = tmp_path / "site"
    make_distribution(root, "affectproxy-good", {"good": "good_plugin"}, {"good_plugin": GOOD})
    make_distribution(root, "affectproxy-broken", {"broken": "broken_plugin"},
                       {"broken_plugin": "import no_such_module_abc\n"})
    out = run_python("""
        import affectproxy as ap
        rows = ap.list_evaluators()
        for r in rows: print(repr(r.name), r.installed, r.can_run, r.reason, '|', r.plugin)
        print(ap.get_evaluator("const", value=0.25).value)
        try:
            ap.get_evaluator("needs_pkg")
        except ap.MissingDependencyError as e:
            print("MISSING", e)
    """, paths=(root,)).stdout
    assert "'const' True False no weights in DIR | affectproxy-good" in out
    assert "'needs_pkg' False False missing no_such_pkg_xyz: pip install affectproxy-needs" in out
    assert "'' False False plugin failed to load: ModuleNotFoundError: No module named 'no_such_module_abc'" in out
    assert "affectproxy-broken" in out
    assert "\n0.25\n" in out
    assert "MISSING Evaluator 'needs_pkg' needs no_such_pkg_xyz: pip install affectproxy-needs" in out


def test_name_clash_names_both_plugins(tmp_path: Path, run_python, make_distribution) -> None:
    root = tmp_path / "site"
    make_distribution(root, "affectproxy-one", {"one": "one_plugin"}, {"one_plugin": GOOD})
    make_distribution(root, "affectproxy-two", {"two": "two_plugin"}, {"two_plugin": GOOD})
    out = run_python("""
        import affectproxy as ap
        try:
            ap.list_evaluators()
        except ap.PluginError as e:
            print("CLASH", e)
    """, paths=(root,)).stdout
    assert "CLASH Two plugins register the evaluator 'const'" in out
    assert "affectproxy-one" in out and "affectproxy-two" in out and "AFFECTPROXY_PLUGINS" in out
    pinned = run_python("import affectproxy as ap; print(sorted(r.name for r in ap.list_evaluators()))",
                        paths=(root,), env={"AFFECTPROXY_PLUGINS": "one"}).stdout
    assert pinned.strip() == "['const', 'needs_pkg', 'table']"
    none = run_python("import affectproxy as ap; print(sorted(r.name for r in ap.list_evaluators()))",
                      paths=(root,), env={"AFFECTPROXY_PLUGINS": ""}).stdout
    assert none.strip() == "['table']"


def test_unknown_name_lists_installed_and_suggests() -> None:
    import pytest

    import affectproxy as ap

    with pytest.raises(ap.UnknownEvaluatorError, match=r"Unknown evaluator 'loudnes'\. Did you mean 'loudness'\? "
                       r"Installed: .*loudness.*table") as info:
        ap.get_evaluator("loudnes")
    assert isinstance(info.value, LookupError)


def test_import_and_listing_stay_light(run_python) -> None:
    out = run_python("""
        import sys, time
        t = time.perf_counter()
        import affectproxy as ap
        heavy = ("torch", "funasr", "transformers", "google.genai", "opensmile", "openai", "anthropic", "ray",
                 "matplotlib", "scipy", "pandas")
        print("after import:", [m for m in heavy if m in sys.modules])
        ap.list_evaluators()
        from affectproxy.llm.providers import provider_specs
        provider_specs()
        print("after listing:", [m for m in heavy[:8] if m in sys.modules])
    """).stdout
    assert "after import: []" in out
    assert "after listing: []" in out


def test_name_option_reaches_the_factory(tmp_path) -> None:
    import affectproxy as ap

    (tmp_path / "t.csv").write_text("segment_id,pathos\na,1\n")
    ev = ap.get_evaluator("table", path=tmp_path / "t.csv", name="trust")
    assert ev.name == "trust"


def test_check_evaluators_uses_the_instance_check_else_the_spec_and_lists_every_problem(
        tmp_path: Path, run_python, make_distribution) -> None:
    root = make_distribution(tmp_path / "site", "affectproxy-good", {"good": "good_plugin"}, {"good_plugin": GOOD})
    out = run_python("""
        import affectproxy as ap
        from affectproxy.registry import check_evaluators
        from good_plugin import Const

        class Ready(Const):
            def check(self):
                return ap.CheckResult(True)
        class Boom(Const):
            def check(self):
                raise RuntimeError("disk gone")
        class Odd(Const):
            def check(self):
                return True

        built = ap.get_evaluator("const")                       # no check() of its own: the spec's says no
        mine = Ready(name="ready")                              # its own check() passes
        print([str(p) for p in check_evaluators([built, mine, Boom(name="boom"), Odd(name="odd"), Const("hand")])])
    """, paths=(root,)).stdout
    assert ("['const: no weights in DIR', \"boom: 'boom'.check() raised RuntimeError: disk gone\", "
            "\"odd: 'odd'.check() returned bool, not an affectproxy.CheckResult; fix the plugin\"]") in out


def test_reload_picks_up_a_changed_plugin_pin(monkeypatch) -> None:
    import affectproxy as ap
    from affectproxy.registry import registry

    assert "loudness" in registry.specs
    monkeypatch.setenv("AFFECTPROXY_PLUGINS", "")
    assert "loudness" in registry.specs  # loaded once, kept until reload()
    registry.reload()
    try:
        assert [r.name for r in ap.list_evaluators()] == ["table"]
    finally:
        monkeypatch.undo()
        registry.reload()
    assert "loudness" in registry.specs
