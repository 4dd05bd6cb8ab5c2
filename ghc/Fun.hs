-- | The function every call-in measurement calls: the cheapest possible IO action on an Int.
module Fun (foo) where

foo :: Int -> IO Int
foo x = return (x + 1)
