/**
 * The Google Cloud KMS provider, {@link dev.keymanager.kms.gcp.GcpKmsProvider}, for CMK URIs {@code
 * gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K}.
 *
 * <p>Nothing is {@code null} unless documented.
 */
package dev.keymanager.kms.gcp;
