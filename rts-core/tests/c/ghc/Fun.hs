-- The exported function of the seeds' program (../shared/seeds), for the GHC baseline.
module Fun where

foo :: Int -> IO Int
foo x = return (x + 1)
