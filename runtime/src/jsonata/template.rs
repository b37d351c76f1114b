//! JSONata-capable field values: JSON in which any string of the form `{% expr %}` is an
//! expression, compiled when the definition loads.
