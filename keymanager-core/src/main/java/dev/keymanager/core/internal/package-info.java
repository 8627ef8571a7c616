/**
 * Internals of keymanager-core that must be public for the JDK (the {@code ServiceLoader}-found
 * local KMS provider) or are shared across core's packages. Not exported; not an API: nothing
 * outside keymanager-core may use it (a layering test enforces this).
 */
package dev.keymanager.core.internal;
