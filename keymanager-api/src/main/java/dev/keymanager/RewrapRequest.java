package dev.keymanager;

import static java.util.Objects.requireNonNull;

/**
 * One wrapped DEK for {@link KeyManager#rewrapDeks}, with the context it was wrapped with.
 *
 * @param wrappedKey the wrapped DEK as stored beside the data
 * @param context the context it was wrapped with
 */
public record RewrapRequest(WrappedKey wrappedKey, KeyContext context) {
  /** Checks for nulls. */
  public RewrapRequest {
    requireNonNull(wrappedKey, "wrappedKey");
    requireNonNull(context, "context");
  }
}
