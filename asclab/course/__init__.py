"""The course tooling: the instructor's side of the workbook, apart from the ML code the lessons teach.

Modules, each importing only those listed before it (no module imports one listed after it):

==================  ======================================================================================
``text``            messages cut to a length, markdown table cells
``notebooks``       the lesson notebooks on disk: ``repo_root``, ``notebooks_dir``, ``list_notebooks``
``environment``     the environment the kernels inherit: ``environ``, ``headless_threads``
``figures``         where a notebook's figures go: ``figures_dir``, ``figures_to``
``results``         a run's results: ``NotebookResult``, ``RunSummary``, ``results.md``, ``collect_metrics``
``runner``          the papermill runner: ``run_notebook``, ``run_notebooks`` (``asclab run``)
``checks``          what every exercise check shares: ``CheckResult``, ``record``, ``run_check``
``exercises``       the six exercises, their cases and checks: ``check_mixup`` ... ``EXERCISES``
``student_copy``    solutions stubbed out: ``write_student_copies`` (``asclab student-copy``)
``bands``           reference bands: ``flatten_metrics``, ``BandRule``, ``bands_from_runs``, ``in_band``
``reference``       the reference file: ``load_reference``, ``build_reference`` (``asclab grade-reference``)
``submissions``     which file is which student's which lesson: ``find_submissions``, ``identify_notebook``
``outcomes``        what became of one submitted notebook: ``NotebookOutcome``, the exercise log
``table``           the grade table: ``Column``, ``GradeRow``, ``build_columns``, ``build_rows``
``reports``         ``GradeReport`` and its files: grades.csv, .md, .json, .html, the pass-rate chart
``grading``         ``grade_notebook`` and ``grade`` (``asclab grade``)
==================  ======================================================================================

``asclab.workbook``, ``asclab.exercises`` and ``asclab.grade`` re-export the names the notebooks and older
scripts use (``asclab.exercises.check_mixup``, ``asclab.workbook.figures_dir``, ``python -m asclab.grade``).
"""
