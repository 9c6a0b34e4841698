"""The Train page's "Default model's settings" for a default whose last step went on from another run (a polish)."""

from __future__ import annotations

import json

from tests.app.test_train_page import button, open_page


def test_a_polished_default_fills_in_its_recipes_student_and_says_what_the_form_cannot_hold(models_dir, runs_dir):
    """Test that a default fine-tuned from an earlier run fills in the recipe's student step, not its 3-epoch
    polish from scratch, and that the button's help names what it leaves out and the one recipe command."""
    from digitlab.training.recipe import STUDENT

    card_path = models_dir / "default.json"
    card = json.loads(card_path.read_text())
    card["config"] = {**card["config"], "arch": "digitnet", "epochs": 3, "lr": 0.0001, "augment": False,
                      "init_from": "runs/student", "non_digits": 6000}
    card_path.write_text(json.dumps(card))
    at = open_page()
    preset = button(at, "Default model's settings")
    assert "python -m digitlab recipe default" in preset.help and "no UNIPEN" in preset.help
    preset.click().run()

    assert at.number_input(key="train_epochs").value == STUDENT.epochs != 3
    assert at.number_input(key="train_lr").value == STUDENT.lr
    assert at.toggle(key="train_augment").value is STUDENT.augment is True
    assert at.toggle(key="train_non_digits").value
