"""Train page: start a training run, watch it live, compare runs and put a run's model to use."""

import streamlit as st

from digitlab.training import jobs
from digitlab.ui.augmentation_preview import augmentation_preview
from digitlab.ui.frame import ensure_app_frame
from digitlab.ui.run_live import live_run_panel
from digitlab.ui.runs_table import runs_section
from digitlab.ui.sweep_view import sweep_section
from digitlab.ui.train_form import bank_fine_tune, deployment_settings, train_form

ensure_app_frame()

st.title("Train a model")
st.caption("Each run trains in its own process and writes its progress to a run folder; this page reads those "
           "files, so a run keeps going when you leave the page and shows up in every tab.")

settings = deployment_settings()
active = jobs.active_run()
train_form(settings, active)
bank_fine_tune(settings, active)
augmentation_preview()
live_run_panel(active)
sweep_section(settings)
runs_section(settings, active)
