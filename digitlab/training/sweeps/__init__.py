"""Sweeps: an Optuna study whose trials are ordinary run folders, trained by local processes or on a Dask cluster.

    search_space   `--param` texts as Optuna distributions over TrainConfig's fields
    study_store    the study in the drawing bank's database: the sweep's spec, its driver, cancel requests
    trial_process  a trainer process in its own process group, killed as a group, dying with its parent
    trial_reports  what an executor reports on a trial: started (where), an epoch done, ended
    executors      which executor a sweep uses, and what every executor does
    local_executor trials as trainer processes on this machine, N at once
    dask_executor  trials on a Dask cluster (dask_worker_task is what runs on a worker)
    driver         the ask/tell loop: start trials, prune, record, print one JSON line per finished trial
    launch         make a sweep; start, resume and cancel its driver from the app; will it fit the memory budget
    results        a sweep's trials as rows, its best trial, and whether it beat the default settings
    defaults       a new sweep's trials in all and at once, where none are given
"""
