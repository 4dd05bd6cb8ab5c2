{-# LANGUAGE ForeignFunctionInterface #-}
-- The seeds' export: GHC generates the c_function stub that rts-core/stub/c_function.c mirrors.
module Export where

import Fun (foo)

foreign export ccall "c_function" foo :: Int -> IO Int
