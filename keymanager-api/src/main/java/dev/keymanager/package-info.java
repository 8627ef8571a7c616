/**
 * Envelope-encryption key management: the API that applications call.
 *
 * <p>A customer's KMS holds the master key (CMK). A {@link dev.keymanager.KeyManager} keeps
 * key-encryption keys (KEKs) only in wrapped form, unwraps one through the KMS when it is needed,
 * holds the plaintext briefly in a zeroizing cache, and wraps data keys (DEKs) locally.
 *
 * <p>Unless a method says otherwise, parameters and return values are never {@code null}; passing
 * {@code null} raises {@link java.lang.NullPointerException}. Optional results are returned as
 * {@link java.util.Optional}. Every failure the library reports is a {@link
 * dev.keymanager.KeyManagerException}; programming errors (a negative size, a blank id) raise
 * {@link java.lang.IllegalArgumentException}.
 */
package dev.keymanager;
