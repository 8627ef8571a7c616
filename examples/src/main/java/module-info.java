/** Runnable keymanager examples. */
module dev.keymanager.examples {
  requires dev.keymanager.core;
  requires dev.keymanager.parquet;
  requires dev.keymanager.testkit;
  // Parquet and the Hadoop client carry no module names: these are their jar-derived names.
  requires parquet.hadoop;
  requires parquet.column;
  requires hadoop.client.api;
}
