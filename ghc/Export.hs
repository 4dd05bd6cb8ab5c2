-- | Exports 'foo' to C as @HsInt c_function(HsInt)@. GHC generates the C stub
-- (rts_lock, rts_mkInt, rts_apply, rts_evalIO, rts_checkSchedStatus, rts_getInt, rts_unlock)
-- that the benchmark drives.
module Export () where

import Fun (foo)

foreign export ccall "c_function" foo :: Int -> IO Int
