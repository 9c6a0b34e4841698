"""What a new sweep runs when not told otherwise: the Train page's sweep form and `python -m digitlab sweep` agree.

Kept apart from study_store and launch, which import Optuna: the command's parser shows these in its help.
"""

DEFAULT_TRIALS = 12  # trials in all
DEFAULT_PARALLEL = 2  # trials at once (on this machine: fewer where its cores or memory allow fewer)
