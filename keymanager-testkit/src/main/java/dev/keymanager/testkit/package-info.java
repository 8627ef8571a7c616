/**
 * Test support for keymanager: {@link dev.keymanager.testkit.FakeKms}, an in-memory KMS with
 * switches for revocation, latency and faults, and the conformance suites that every KMS provider
 * ({@link dev.keymanager.testkit.KmsProviderContract}) and KEK store module passes.
 *
 * <p>Add this module with test scope; it depends on JUnit 5 and AssertJ because the suites are
 * abstract test classes. Nothing here protects data: never use it in production. As in {@code
 * dev.keymanager}, nothing is {@code null} unless documented.
 */
package dev.keymanager.testkit;
