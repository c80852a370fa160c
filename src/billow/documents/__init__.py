"""Invoice and credit-note PDFs (see :mod:`billow.documents.service`)."""
