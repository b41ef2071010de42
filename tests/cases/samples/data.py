"""Sample-transaction files for the Prosa outage (tests/prosa.py)."""

HEADER = "date_time,amount,currency,card,rrn,stan,auth_code,response_code,terminal_id,entry_mode,merchant,partner\r\n"
GOOD = (
    HEADER + "2019-08-10T10:52:13-05:00,1250.00,MXN,415231******1234,921815000123,000123,,91,TPV00042,chip,"
    "Farmacias Nube,prosa\r\n"
    + "2019-08-10T16:03:40Z,389.90,mxn,455511XXXXXX9876,921816000456,000456,,96,,contactless,,\r\n"
    + "2019-08-10 11:15:00-05:00,75.50,MXN,520416******4321,921816000789,000789,,05,ECOM0001,ecommerce,,BBVA México\r\n"
)
# A Visa test card number, Luhn-valid: never stored, never shown back.
PAN = "4111111111111111"
WITH_PAN = GOOD + f"2019-08-10T12:00:00-05:00,10.00,MXN,{PAN},921816000999,000999,,91,,chip,,\r\n"
BAD = (
    HEADER
    + "2019-08-10T10:52:13,1250.00,MXN,415231******1234,,,,91,,chip,,\r\n"  # line 2: no zone
    + "2019-08-10T10:52:13Z,12.345,MX,4152311234,,,,91,,chip,,nadie\r\n"  # line 3: amount, currency, card, partner
)
