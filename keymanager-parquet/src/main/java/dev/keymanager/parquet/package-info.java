/**
 * Parquet modular encryption with keymanager KEKs: a parquet-java key-tools {@link
 * org.apache.parquet.crypto.keytools.KmsClient} whose master keys are KEK ids, and the registry
 * through which Parquet reaches the application's {@link dev.keymanager.KeyManager}. See {@link
 * dev.keymanager.parquet.KeyManagerKmsClient} and {@code docs/parquet.md}.
 *
 * <p>Arguments and results are non-null unless documented otherwise.
 */
package dev.keymanager.parquet;
