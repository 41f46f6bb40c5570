"""Stage 1, data (workflow/rules/download.smk, tfrecords.smk): the data set's file fetched
(``download``) and checked (``verify``: size, sha256, a complete gzip stream), then converted
into TFRecord shards per split with the training split's statistics (``tfrecords``)."""
