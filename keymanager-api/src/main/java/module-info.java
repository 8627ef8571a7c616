/**
 * The public values and service-provider interfaces of keymanager.
 *
 * <p>{@code dev.keymanager} is what applications call; {@code dev.keymanager.spi} is what KMS and
 * store modules implement. {@code dev.keymanager.internal} is a bridge for keymanager's own core
 * module only.
 */
module dev.keymanager.api {
  exports dev.keymanager;
  exports dev.keymanager.spi;
  exports dev.keymanager.internal to
      dev.keymanager.core;
}
