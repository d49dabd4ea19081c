// The one translation unit that compiles stb's implementations (header-only
// libraries: every other file includes the declarations only). The writer is
// not used by the readers: tests and benches write their JPEG/PNG fixtures
// with it. The headers live in /usr/include, so the compiler treats them as
// system headers and their warnings do not trip -Werror.
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image.h>
#include <stb/stb_image_resize.h>
#include <stb/stb_image_write.h>
