#pragma once
#define SPARSE24_VERSION_MAJOR 0
#define SPARSE24_VERSION_MINOR 1
#define SPARSE24_VERSION_PATCH 0
#define SPARSE24_VERSION_STRING "0.1.0"
// Version of the on-disk 2:4 format (docs/FORMAT.md).
#define SPARSE24_FORMAT_VERSION 1
