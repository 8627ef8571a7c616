package dev.keymanager.core;

import dev.keymanager.core.internal.LocalKmsProvider;
import java.net.URI;
import java.nio.file.Path;

/**
 * The development KMS ({@code local-kms://PATH}): <strong>not for production</strong>. Its master
 * key is a plain file, so it protects nothing from anyone who can read that file; use it to try
 * keymanager, in examples and in tests, then switch the CMK URI to a real KMS module.
 *
 * <p>The provider is on the class path with keymanager-core and found by {@link
 * java.util.ServiceLoader}; this class only creates master keys. Deleting the file revokes the CMK:
 * later wraps and unwraps fail with {@link dev.keymanager.KeyAccessDeniedException}.
 */
public final class LocalKms {
  private LocalKms() {}

  /**
   * Creates a master key file with owner-only permissions at {@code path}, unless one exists there,
   * and returns the CMK URI naming it ({@code local-kms:///absolute/path}).
   *
   * @throws dev.keymanager.KmsUnavailableException if the file cannot be written
   */
  public static URI createMasterKey(Path path) {
    return LocalKmsProvider.createMasterKey(path);
  }
}
