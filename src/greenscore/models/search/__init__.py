"""Architecture search: which model family and shape is the best trade between accuracy,
latency, energy and fairness.

:mod:`.space` says what a trial may build (DNN, TCN, BiLSTM and small LightGBM shapes, and
the nets' hyper-parameter spaces :mod:`greenscore.models.tuning` uses), :mod:`.objectives`
measures a fitted candidate on the four objectives, :mod:`.guard` stops hopeless trials and
holds the time budget, :mod:`.storage` finds or resumes a study, :mod:`.study` runs it and
:mod:`.pareto` turns the finished study into a front, its knee and an HTML plot.
``greenscore search`` (:mod:`greenscore.workflows.search`) refits the knee as a bundle.
"""
