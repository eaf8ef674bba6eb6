/* Default: no extensions. mcuforge.project.copy_platform() rewrites this file
 * when a project enables extensions. */
#include "mf_runtime.h"

void mf_extensions_register(void)
{
}
