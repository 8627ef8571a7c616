/**
 * Test support for keymanager: the {@code fake-kms} provider and the conformance suites.
 *
 * <p>The package is opened to JUnit because the suites' test methods are package-private and JUnit
 * invokes them reflectively from subclasses in other modules.
 */
module dev.keymanager.testkit {
  requires transitive dev.keymanager.api;
  requires org.junit.jupiter.api;
  requires org.assertj.core;

  exports dev.keymanager.testkit;

  opens dev.keymanager.testkit to
      org.junit.platform.commons;

  provides dev.keymanager.spi.KmsProvider with
      dev.keymanager.testkit.FakeKms;
}
