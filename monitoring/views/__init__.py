"""The payment-data pages: charts (`charts`) and the file upload (`uploads`)."""
