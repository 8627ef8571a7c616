package dev.keymanager.kms.gcp;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Marks a package-private member that exists for tests (a seam, a hook, a read of internal state):
 * main code does not call it, and it is not part of any contract. The same as keymanager-core's
 * (each module keeps its own copy, package-private, so no annotation becomes API).
 */
@Documented
@Retention(RetentionPolicy.SOURCE)
@Target({ElementType.METHOD, ElementType.CONSTRUCTOR, ElementType.FIELD, ElementType.TYPE})
@interface VisibleForTesting {}
