"""The teaching wing: everything the notebooks use besides the core (``steps``, ``loss``, ``evaluation``).

* :mod:`.notebook` -- ``setup`` (seed, device, smoke mode, figures folder) and ``save_figure``;
* :mod:`.toy` -- one namespace for :mod:`.toy_data` (multi-modal toy data, classic
  label propagation), :mod:`.gradients` (descent directions of ``L^s + lambda L^p``)
  and :mod:`.training` (a tiny embedding network and its training loop);
* :mod:`.plots` -- the figures, by topic (one module per notebook);
* :mod:`.views` -- a widget declared once: finite controls and a draw function;
* :mod:`.widgets` -- ipywidgets views of the figures, from those declarations.
"""
