"""The generator of the bundled tasks' data; ``scripts/make_data.py`` is its command line.

One module per task, each holding its rule book as code and the writer of one example:
    ``routing``   ticket_routing (its phrase banks are in ``routing_phrases``)
    ``dates``     date_normalization
    ``invoices``  field_extraction (the documents' figures and layouts are in ``invoice_layouts``)
``common`` holds what the tasks share (phrase banks, the mix of kinds, names), ``splits`` draws the
train/valid/test splits of every task from one seed. Seeded ``random.Random`` and stdlib only.
"""
