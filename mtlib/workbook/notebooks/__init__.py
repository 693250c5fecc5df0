"""Running the notebooks: the runner (`python -m mtlib.workbook`), one notebook executed by
papermill, which notebook files run, their parameters, and `make lab`."""
