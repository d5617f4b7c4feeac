"""The lab wing: the helpers of the experiment notebooks 6-11 (real runs, studies, their tables and views).

The teaching notebooks 1-5 use :mod:`proxygml_lite.teaching`; these build on
the training wing (:mod:`proxygml_lite.training`) and the study runner
(:mod:`proxygml_lite.studies`):

* :mod:`.experiments` -- where the notebooks' data and runs go, smoke and
  experiment configs, runs that are trained once and then read back;
* :mod:`.run_views` -- one run folder: its model, embeddings, neighbours;
* :mod:`.study_tables` -- the committed tables of ``results/<preset>/`` and
  their per-seed summaries; :mod:`.seed_table_checks` -- a table checked before
  its seeds are averaged; :mod:`.study_views` -- their figures (notebooks 8, 10);
* :mod:`.efficiency_views` -- notebook 11's figures of the loss layer's cost;
* :mod:`.umap_views` -- UMAP of proxies and embeddings over training;
* :mod:`.proxy_spread_views` -- whether a class's proxies spread or merge, measured with cosines;
* :mod:`.diagnostics` -- what the loss does during a run (collapse probes);
* :mod:`.ablation_probes` -- notebook 10's seed outliers, claims summary and probes (each against its base),
  written from ``ablation.csv``, ``probes.csv`` and ``probe_epochs.csv``;
* :mod:`.subgraph_cost` -- the cost of the subgraph step against ``k``;
* :mod:`.efficiency_findings` -- notebook 11's findings about cost, written from its tables;
  :mod:`.timing_comparisons` -- timings compared on their repeats (Welch on log times, Holm);
* :mod:`.findings` -- the findings of the study tables (the README's study section, the ``N x r``
  grid's "fewer is more");
* :mod:`.study_widgets` -- ipywidgets views of the above;
* :mod:`.book_views` -- the widgets the offline site (``make book``) draws view by view;
* :mod:`.miniature_data` -- tiny archives in the official formats (CUB, Cars, SOP).
* :mod:`.gpu_estimates` -- notebook 7's estimates of a GPU run (time, memory, disk);
  :mod:`.gpu_downloads` -- the weights' origin and fallbacks, keeping downloads between sessions;
  :mod:`.gpu_expectations` -- what to expect (the paper's numbers, a public reproduction).
"""
