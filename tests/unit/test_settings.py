"""Deployment settings: environment first, then secrets, then defaults; a bad value is named."""

import pytest

from digitlab.config.settings import Settings, SettingsError, load_settings


def test_settings_come_from_env_then_secrets_and_bad_values_are_named():
    """Test that settings read env vars before secrets, default to one training thread, and name a bad value."""
    settings = load_settings({"DIGITLAB_MAX_EPOCHS": "7", "DIGITLAB_TRAINING_ENABLED": False,
                              "DIGITLAB_MAX_RUNS_PER_HOUR": "3"},
                             environ={"DIGITLAB_MAX_EPOCHS": "5", "DIGITLAB_MAX_TRAIN_IMAGES": "100000"})
    assert settings == Settings(training_enabled=False, max_epochs=5, max_train_images=60_000, train_threads=1,
                                max_runs_per_hour=3)

    with pytest.raises(SettingsError, match="DIGITLAB_TRAIN_THREADS"):
        load_settings(environ={"DIGITLAB_TRAIN_THREADS": "many"})
    with pytest.raises(SettingsError, match="DIGITLAB_TRAINING_ENABLED"):
        load_settings(environ={"DIGITLAB_TRAINING_ENABLED": "maybe"})
    with pytest.raises(SettingsError, match="DIGITLAB_MAX_RUNS_PER_HOUR is 0"):
        load_settings(environ={"DIGITLAB_MAX_RUNS_PER_HOUR": "0"})


def test_a_run_over_the_caps_is_refused_with_the_cap_named():
    """Test that the refusal names the limit a run broke, and a run within the caps is allowed."""
    capped = Settings(max_epochs=3, max_train_images=5000)
    assert "at most 3 epochs" in capped.refusal(4, 1000)
    assert "5,000 training images" in capped.refusal(1, None)
    assert Settings(training_enabled=False).refusal(1, 1000) == "Training is turned off on this deployment."
    assert capped.refusal(3, 5000) is None
