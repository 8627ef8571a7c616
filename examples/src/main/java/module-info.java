/** Runnable keymanager examples. */
module dev.keymanager.examples {
  requires dev.keymanager.core;
}
