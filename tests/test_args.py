"""aura-hf's argument parser: strict booleans and numbers, one-line errors naming the argument, and
method=none in every spelling that reaches it; all before a (here nonexistent) model loads."""

import pytest

from aura_eval.core.config import InterventionConfig
from aura_eval.harness.args import ArgumentError, flag, parse_args


@pytest.mark.parametrize("value,expected", [(True, True), (False, False), ("true", True), ("FALSE", False),
                                            ("True", True), ("1", True), ("0", False), (1, True), (0, False),
                                            ("yes", True), ("No", False), (" yes ", True)])
def test_booleans_take_true_false_1_0_yes_no(value, expected):
    assert flag("fold", value) is expected


@pytest.mark.parametrize("value", ["maybe", "off", "on", "", "2", 2, -1, 0.5, None, "none", "[]"])
def test_anything_else_is_a_one_line_error_naming_the_argument(value):
    with pytest.raises(ArgumentError) as e:
        parse_args(shared_prefill=value)
    assert str(e.value) == f"aura-hf: shared_prefill={value!r}: expected true/false, 1/0 or yes/no"


@pytest.mark.parametrize("name", ["fold", "shared_prefill", "fast_sampling", "gguf_cache"])
def test_every_boolean_argument_is_checked(name):
    assert getattr(parse_args(**{name: "no"}), name) is False
    with pytest.raises(ArgumentError, match=f"^aura-hf: {name}='off': expected"):
        parse_args(**{name: "off"})


@pytest.mark.parametrize("kw,message", [
    ({"k": 0}, "k=0: expected a whole number >= 1"), ({"k": "ten"}, "k='ten': expected a whole number >= 1"),
    ({"k": 2.5}, "k=2.5: expected a whole number >= 1"), ({"k": True}, "k=True: expected a whole number >= 1"),
    ({"alpha": 1.5}, r"alpha=1.5: expected a number in \[0, 1\]"), ({"alpha": "x"}, "alpha='x': expected a number"),
    ({"strength": -0.1}, r"strength=-0.1: expected a number in \[0, 1\]"),
    ({"strength": float("nan")}, "strength=nan: expected"), ({"strength": True}, "strength=True: expected"),
    ({"rolling_batch_size": 0}, "rolling_batch_size=0: expected a whole number >= 1"),
])
def test_numbers_are_checked_for_type_and_range(kw, message):
    with pytest.raises(ArgumentError, match=f"^aura-hf: {message}"):
        parse_args(intervention="s.safetensors", method="damp", **({"k": 3} | kw if "k" not in kw else kw))


def test_numbers_as_lm_eval_gives_them():
    args = parse_args(intervention="s.safetensors", method="DAMP", k="500", alpha="0.25", strength=0.5, rolling_batch_size="4")
    assert (args.method, args.k, args.alpha, args.strength, args.rolling_batch_size) == ("damp", 500, 0.25, 0.5, 4)


@pytest.mark.parametrize("method", [None, "none", "None", "NONE", "base", " none "])
def test_method_none_in_any_spelling_is_the_bare_model(method):
    args = parse_args(intervention="s.safetensors", method=method)
    assert args.bare and args.method == "none"
    assert parse_args(intervention=None, method=method).bare


def test_no_method_given_keeps_the_state_files_and_strength_applies_to_it():
    stored = InterventionConfig("damp", k=7, alpha=0.3)
    args = parse_args(intervention="s.safetensors")
    assert not args.bare and args.config(stored) == stored
    assert parse_args(intervention="s.safetensors", strength="0.5").config(stored) == InterventionConfig("damp", 7, 0.3, 0.5)
    assert parse_args(intervention="s.safetensors", k=3, method="det_zero").config(stored) == InterventionConfig("det_zero", 3)


@pytest.mark.parametrize("kw,message", [
    ({"method": "aura"}, "method=aura: needs intervention=<state file>"),
    ({"intervention": "none", "k": 3}, "k, alpha and strength need intervention=<state file>"),
    ({"intervention": "s.safetensors", "method": "nope"}, "unknown method 'nope'"),
    ({"intervention": "s.safetensors", "method": "det_zero", "k": 3, "alpha": 0.3}, "method=det_zero sets units to 0"),
    ({"intervention": "s.safetensors", "method": "damp"}, "method=damp needs k"),
    ({"intervention": "s.safetensors", "method": "none", "strength": 0.5}, "method=none .* takes no strength"),
])
def test_method_errors_are_one_line_and_early(kw, message):
    with pytest.raises(ArgumentError, match=f"^aura-hf: {message}") as e:
        parse_args(**kw)
    assert "\n" not in str(e.value)


def test_aura_hf_refuses_before_loading_the_model():
    from aura_eval.harness.model import AuraLM

    with pytest.raises(ArgumentError, match="^aura-hf: fold='maybe'"):
        AuraLM(pretrained="/nonexistent/model", intervention="/nonexistent.safetensors", fold="maybe")
