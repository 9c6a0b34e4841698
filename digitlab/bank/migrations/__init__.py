"""Alembic's script folder for the drawing bank: env.py, and one revision per schema change in versions/.

digitlab.bank.migrate runs them when a bank is opened. To write a revision after changing schema.py:
    python -c "from alembic import command; from digitlab.bank.migrate import alembic_config as c;
    cfg = c(); cfg.set_main_option('sqlalchemy.url', 'sqlite:///drawings.sqlite');
    command.revision(cfg, 'what changed', autogenerate=True, rev_id='0002')"
then read the file it writes and test it (tests/unit/test_bank_migrations.py).
"""
