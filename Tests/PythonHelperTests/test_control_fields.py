"""control.json's wave-2 fields (learning_rate, unfreeze_lr_factor, plan, apply_now): parsed and
validated once in finetop.control for every helper; a bad value is a ControlError naming the field
(the whole revision refused), never another exception; files without them parse as before."""
import json

import pytest

from finetop.control import ControlError, ControlFile, Plan, parse_control


def doc(**extra):
    d = {"version": 1, "revision": 4, "trainable": {"a": True}, "stop": False}
    d.update(extra)
    return json.dumps(d)


def test_absent_fields_keep_the_old_api():
    c = parse_control(doc())
    assert (c.learning_rate, c.unfreeze_lr_factor, c.plan, c.apply_now) == (None, None, None, False)
    # positional construction used by the other helpers still works
    assert ControlFile(4, {"a": True}, False) == c


def test_valid_fields():
    plan = {"id": "gu", "kind": "gradual_unfreeze", "groups": [["c", "d"], ["b"], ["a", "c"]],
            "every_epochs": 2, "lr_factor": 0.1, "cancel": False}
    c = parse_control(doc(learning_rate=1e-5, unfreeze_lr_factor=0.1, apply_now=True, plan=plan))
    assert c.learning_rate == 1e-5 and c.unfreeze_lr_factor == 0.1 and c.apply_now is True
    assert isinstance(c.plan, Plan)
    assert (c.plan.id, c.plan.groups, c.plan.every_epochs, c.plan.lr_factor, c.plan.cancel) == \
        ("gu", [["c", "d"], ["b"], ["a", "c"]], 2, 0.1, False)
    assert c.plan.names() == ["c", "d", "b", "a"]
    assert parse_control(doc(learning_rate=3)).learning_rate == 3.0
    assert parse_control(doc(plan={"id": "gu", "cancel": True})).plan.cancel is True
    assert parse_control(doc(plan={"id": "x", "kind": "gradual_unfreeze",
                                   "groups": [["a"]]})).plan.every_epochs == 1
    assert parse_control(doc(plan=None, learning_rate=None)).plan is None


@pytest.mark.parametrize("extra, words", [
    (dict(learning_rate=0), '"learning_rate" must be a positive finite number'),
    (dict(learning_rate=-1e-3), '"learning_rate" must be a positive finite number'),
    (dict(learning_rate="1e-5"), '"learning_rate" must be a positive number'),
    (dict(learning_rate=True), '"learning_rate" must be a positive number'),
    (dict(learning_rate=10 ** 400), '"learning_rate" must be a positive finite number'),
    (dict(unfreeze_lr_factor=0), '"unfreeze_lr_factor" must be a positive finite number'),
    (dict(unfreeze_lr_factor=[0.1]), '"unfreeze_lr_factor" must be a positive number'),
    (dict(apply_now="yes"), '"apply_now" must be true or false'),
    (dict(plan=[1]), '"plan" must be an object'),
    (dict(plan={"kind": "gradual_unfreeze", "groups": [["a"]]}), 'needs an "id"'),
    (dict(plan={"id": "x" * 201, "kind": "gradual_unfreeze", "groups": [["a"]]}), 'needs an "id"'),
    (dict(plan={"id": "p", "kind": "other", "groups": [["a"]]}), '"kind" must be "gradual_unfreeze"'),
    (dict(plan={"id": "p", "kind": "gradual_unfreeze", "groups": []}), '"groups" must be a non-empty'),
    (dict(plan={"id": "p", "kind": "gradual_unfreeze", "groups": [["a"], []]}), "group 2 must be"),
    (dict(plan={"id": "p", "kind": "gradual_unfreeze", "groups": [["a", 3]]}), "group 1 must be"),
    (dict(plan={"id": "p", "kind": "gradual_unfreeze", "groups": [["a"]], "every_epochs": 0}),
     '"every_epochs" must be a whole number'),
    (dict(plan={"id": "p", "kind": "gradual_unfreeze", "groups": [["a"]], "every_epochs": 1.5}),
     '"every_epochs" must be a whole number'),
    (dict(plan={"id": "p", "kind": "gradual_unfreeze", "groups": [["a"]], "lr_factor": -1}),
     '"lr_factor" must be a positive finite number'),
    (dict(plan={"id": "p", "kind": "gradual_unfreeze", "groups": [["a"]], "cancel": 1}),
     '"cancel" must be true or false'),
])
def test_bad_values_are_refused_with_the_field_named(extra, words):
    with pytest.raises(ControlError) as e:
        parse_control(doc(**extra))
    assert words in str(e.value)
    assert e.value.revision == 4, "the rejection can be acknowledged"
