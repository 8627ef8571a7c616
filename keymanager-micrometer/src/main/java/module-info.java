/**
 * Micrometer metrics for a key manager: {@link dev.keymanager.micrometer.KeyManagerMetrics}.
 * Micrometer's jars name their modules in their manifests ({@code micrometer.core}).
 */
module dev.keymanager.micrometer {
  requires transitive dev.keymanager.api;
  requires transitive micrometer.core;

  exports dev.keymanager.micrometer;
}
