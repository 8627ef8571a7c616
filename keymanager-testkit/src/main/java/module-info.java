/**
 * Test support for keymanager: the {@code fake-kms} provider and the conformance suites.
 *
 * <p>JUnit and AssertJ are {@code requires static}: only the conformance suites ({@code
 * KekStoreContract}, {@code KmsProviderContract}) use them, so {@code FakeKms} runs on a module
 * path that holds neither (a modular program, a demo). A test that extends a suite has both
 * already.
 *
 * <p>The package is opened to JUnit because the suites' test methods are package-private and JUnit
 * invokes them reflectively from subclasses in other modules.
 */
module dev.keymanager.testkit {
  requires transitive dev.keymanager.api;
  requires static org.junit.jupiter.api;
  requires static org.assertj.core;

  exports dev.keymanager.testkit;

  opens dev.keymanager.testkit to
      org.junit.platform.commons;

  provides dev.keymanager.spi.KmsProvider with
      dev.keymanager.testkit.FakeKms;
}
