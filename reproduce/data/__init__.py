"""Stage 1, data (workflow/rules/download.smk, tfrecords.smk): the data set's file fetched and
verified (``download``), then converted into TFRecord shards per split with the training
split's statistics (``tfrecords``)."""
