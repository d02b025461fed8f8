/* SPDX-License-Identifier: MIT */
/*
 * The library's version at run time (upager.h, "Version").  The values are
 * the header's macros as this library was compiled, so a program built
 * against another header learns what it actually runs with.
 */
#include <errno.h>

#include "upager.h"

UPG_API int upg_version_major(void)
{
	return UPAGER_VERSION_MAJOR;
}

UPG_API int upg_version_minor(void)
{
	return UPAGER_VERSION_MINOR;
}

UPG_API const char *upg_version(void)
{
	return UPAGER_VERSION_STRING;
}

UPG_API int upg_check_version(int major, int minor)
{
	if (major < 0 || minor < 0)
		return -EINVAL;
	if (major != UPAGER_VERSION_MAJOR || minor > UPAGER_VERSION_MINOR)
		return -ENOTSUP;
	return 0;
}
